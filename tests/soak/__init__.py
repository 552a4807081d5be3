"""The time-travel soak: years of scheduler ticks on a simulated clock, with faults injected."""
