"""Tests that attack the server the way a hostile client or web page would."""
