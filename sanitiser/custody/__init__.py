"""Chain of custody: the custody rules (`events`: a drive received once per custody, its
outcome once per certificate), the signed anchors of the chain (`anchors`: checkpoints, and the
certificates' and manifests' chain positions) and consignment manifests (`manifest`). The chain
itself (append-only, hash-linked entries), the destinations registry and the consignments are
persisted by `sanitiser.store`."""
