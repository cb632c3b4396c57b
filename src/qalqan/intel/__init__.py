"""Intel exchange between banks, private by construction (docs/intel.md).

Members of a consortium share indicators of confirmed fraud and droppers (accounts, IBANs, cards,
phones, devices) as keyed tokens under the consortium's key (``QALQAN_CONSORTIUM_KEY``), which the
members hold and nobody else: no raw identifier ever leaves a bank, and a bank's own tokens stay
under its own ``QALQAN_KEY``. The consortium's token of each identifier a consortium may list is
computed at the boundary (privacy.py), where the raw value still is, and kept on the protected
event; an export reads it from there.

- ``feed``: a feed is a JSON document of entries signed by its member (Ed25519); the member's key
  pair, the trusted members' public keys and the log of imports live in ``$QALQAN_HOME/intel/``.
- ``exchange``: export (this deployment's fraud labels and ``internal`` deny-list entries as
  consortium tokens, withdrawals of false positives) and import (into the ``consortium`` list, an
  ``intel`` event per entry through the engine, with its provenance).
- ``commands``: ``qalqan intel keygen|export|import|trust …``.
"""
