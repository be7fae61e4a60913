# Makes the project folder importable in tests (`from source.model.train import ...`).
