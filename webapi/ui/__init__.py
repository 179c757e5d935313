"""The web dashboard: server-rendered pages at ``/`` for researchers and admins.

Pages call the same queue, storage and account code as the REST routes; the
browser authenticates with an httpOnly session cookie (flask-jwt-extended's
cookie mode) and a CSRF token on every state-changing request.
"""
