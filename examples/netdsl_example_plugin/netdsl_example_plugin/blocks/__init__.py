"""The plugin's block folder: netdsl lists the ``*.yaml`` files here (entry point ``netdsl.blocks``)."""
