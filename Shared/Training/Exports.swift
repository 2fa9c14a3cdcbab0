// The trainer (and what drives it) reaches the registry and the training store through Training.
@_exported import EventStore
@_exported import ModelRegistry
