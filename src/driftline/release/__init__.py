"""The release lifecycle: the gate, the model card, the infra check, judging a packaged model, publishing it to the
registry (register, promote, roll back), a rollout beside the champion and its decision. It sits above serving and
monitoring, whose code it runs to check and compare models; registry/ below it finds and loads models."""
