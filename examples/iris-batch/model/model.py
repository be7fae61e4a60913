import pandas as pd
from sklearn.datasets import load_iris
from sklearn.ensemble import RandomForestClassifier

FEATURES = ["sepal_length", "sepal_width", "petal_length", "petal_width"]


class IrisModel:
    def __init__(self):
        iris = load_iris()
        x = pd.DataFrame(iris.data, columns=FEATURES)
        self.model = RandomForestClassifier(random_state=0).fit(x, iris.target)
        self.classes_ = self.model.classes_

    def predict(self, x: pd.DataFrame) -> pd.DataFrame:
        return self.model.predict(x)

    def predict_proba(self, x: pd.DataFrame):
        return self.model.predict_proba(x)
