"""shardsmith building blocks: pure logic first, a thin Beam layer on top."""
__version__ = "0.1.0"
