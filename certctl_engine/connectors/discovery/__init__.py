"""Discovery sources: TLS listeners on the network (the filesystem scanner runs on agents)."""
