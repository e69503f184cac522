"""Ray Serve mode (the ``ray`` extra): the same server, its synthesis on engine replicas.

``launch`` starts or joins a cluster and deploys; ``deployments`` defines the ingress,
engine and voice-matching deployments; ``remote_engine`` is the engine seam the ingress
speaks through; ``routing`` picks the engine replica of each request; ``replica`` is what
runs on an engine replica; ``wire`` is what crosses; ``progress`` carries voice-matching
progress over the shared data folder.
"""
