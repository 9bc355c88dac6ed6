"""The jail: nsjail config, seccomp policy, cgroups, the in-jail init, and the supervisor."""
