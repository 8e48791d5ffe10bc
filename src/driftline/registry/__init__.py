"""Finding and loading models: registered versions and their aliases (store, journal), the one resolver, the bento."""
