"""The foundation every part stands on: settings, names, the S3 store, the outcome record and its labels,
images, the event log and the outcome waiter. It imports none of the parts; the tools are `gourmetgram_tools`."""
