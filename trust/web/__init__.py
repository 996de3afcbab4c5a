"""HTTP composition root: the FastAPI app factory, error mapping, middleware and dependencies."""
