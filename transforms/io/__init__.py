"""Reading records, writing shards, rejects and manifests."""
