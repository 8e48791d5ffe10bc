"""The release side of the loop: registered versions and their aliases, the gate, the infra check and model cards."""
