"""Routing: where a sanitised drive goes next (reuse, recycle or destroy), by policy.

`sanitiser.policy.routes` holds the ``[routing]`` file format and its plain values (imported by
the policy loader); `sanitiser.routing.rules` decides for one drive (`route`).
"""
