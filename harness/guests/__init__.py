"""Guest programs (C and assembly) booted by the harness, and their cross build."""
