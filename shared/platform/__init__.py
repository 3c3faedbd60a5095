"""Platform: settings, secrets at rest, time, the API's error shape, upstream faults and the retry policy."""
