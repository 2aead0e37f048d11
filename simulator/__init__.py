"""bitsmith.simulator: processing-element models, memory hierarchy and cycle engines."""
