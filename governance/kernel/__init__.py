"""The governance kernel: the one gate every governed change passes through (SPEC 4).

- :mod:`.kinds`: every ledger entry kind, one enum;
- :mod:`.authority`: who may act (machine or human, reviewer, member, four eyes, reason);
- :mod:`.transitions`: ``govern_transition``, the lock-permission-transition-ledger-checkpoint
  sequence of every FSM change;
- :mod:`.checkpoints`: resolving a subject resolves its checkpoints;
- :mod:`.settings`: safety settings, where tightening applies and loosening is a change request.

Import the submodules directly (``from governance.kernel.transitions import
govern_transition``): this package imports nothing, so a model module can use the enum
without pulling in the services.
"""
