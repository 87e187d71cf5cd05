"""Alert decisions, pure: which alerts are due on which channel, and what each one says.

A reconciler describes what it observes as :class:`.alerts.Alert` values (drift on a version,
a failure, a rollback, a promotion); :func:`.decisions.plan` compares them with the records
kept in status and returns the deliveries due (a new state, a repeat, a retry after a failed
attempt); an adapter at the edge sends them and :func:`.decisions.record` writes the results
back into the records. :mod:`.messages` turns an alert into the words and labels the
channels carry. Nothing here does I/O.
"""
