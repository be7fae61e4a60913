"""Loading user models in every accepted form and calling them one way."""
