"""The data engineer's part: where the training data comes from.

`nervosum train` calls `DataLoader().load_data()` and gets every row; the tests call it
with `n_rows` to stay fast. Only the code between the example markers is iris-specific.
"""

import pandas as pd


class DataLoader:
    def load_data(self, n_rows: int | None = None) -> pd.DataFrame:
        """One row per example: every feature of features.yaml (same names) plus the target.

        `n_rows` limits the rows returned; None returns them all.
        """
        # --- example: iris, bundled with scikit-learn ---
        from sklearn.datasets import load_iris

        iris = load_iris(as_frame=True)
        frame = iris.data.rename(
            columns={
                "sepal length (cm)": "sepal_length",
                "sepal width (cm)": "sepal_width",
                "petal length (cm)": "petal_length",
                "petal width (cm)": "petal_width",
            }
        )
        frame["species"] = iris.target_names[iris.target]
        # The file is sorted by species: shuffle once so the first n_rows hold every class.
        frame = frame.sample(frac=1.0, random_state=0).reset_index(drop=True)
        # --- end of example ---
        return frame if n_rows is None else frame.head(n_rows)
