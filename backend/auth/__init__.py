"""The identity seam: who a connection is and what role it has."""
