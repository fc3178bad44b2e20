"""The incident record in Redis: keys, Lua scripts, codec, async and sync stores."""
