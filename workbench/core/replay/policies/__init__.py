"""Built-in replay policies, one module each. Every module here is imported on first use of the
registry, so a new policy (a cache, a cascade) is a new module that calls ``register_policy``."""
