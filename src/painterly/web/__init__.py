"""The web studio (``painterly serve``): a page, a JSON/multipart API and a job queue.

Needs the optional ``web`` extra (FastAPI, uvicorn, python-multipart); nothing here is
imported by the rest of painterly.
"""
