"""Every SQL statement shoal runs, named and commented, split by the operations they serve.

A statement is a Python string with ``:name`` parameters, built only from the fixed
pieces in ``fragments`` (every value is a bound parameter). The module that runs it
sits beside it in ``webapi/store``: the queue's claim is ``claim.CLAIM_ONE`` run by
``Queue.claim_many``. The hot statements (claim, heartbeat, complete) are prepared
on the server once per connection (``webapi.store.prepared.Prepared``); the others
go through ``prepared.text``, which parses each once per process.
"""
