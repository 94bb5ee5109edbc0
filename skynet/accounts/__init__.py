"""Accounts: users, roles and permissions, API tokens and passwords, and the changes made to them.

``model`` holds the records and the permission table, ``credentials`` hashes, issues and checks
secrets, ``changes`` creates, changes and deletes accounts (for ``skynet users`` and ``/api/users``),
``throttle`` limits password guesses, ``errors`` names what can go wrong. Nothing here knows HTTP.
"""
