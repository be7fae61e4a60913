# Makes the project folder importable in tests (`from model.model import Model`).
