"""The certctl agent: runs next to the servers, keeps keys local, deploys, discovers, reports."""
