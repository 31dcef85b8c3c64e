"""Module packages (DESIGN §10): ZIP archives with a descriptor, installed under SIMBA_HOME."""
