"""``nervosum deploy``: Kubernetes objects and a Helm chart from what nervosum already
knows about a bundle (its mode, image, port, drain time) and the ``deploy:`` settings.

Rendering touches nothing: objects are printed unless they are written (``-o``) or
applied (``--apply``, after the cluster's own server-side dry run). See docs/deploy.md.

    workload.py   what runs: a registered bundle, or serve-repo over a git repository
    settings.py   ``--set key=value`` over nervosum.yaml's ``deploy:`` block
    values.py     workload + settings -> the resolved values (the chart's values.yaml)
    manifests.py  values -> objects (the chart's templates say the same in Helm's terms)
    objects.py    the Kubernetes objects, part by part
    chart.py      ``--target helm``: Chart.yaml, values.yaml, templates/
    templates/    the chart's templates, in a small subset of Helm's language
    graph.py      an inference graph: one Deployment per step, a Job for its streams
    files.py      objects as YAML, printed or one file per object
    kubectl.py    ``--apply``
    deliver.py    print, write or apply, as asked
"""

from nervosum.deploy.deliver import Delivered, Delivery, deliver
from nervosum.deploy.graph import GraphSettings, graph_settings, graph_source, render_graph

__all__ = [
    "Delivered",
    "Delivery",
    "GraphSettings",
    "deliver",
    "graph_settings",
    "graph_source",
    "render_graph",
]
