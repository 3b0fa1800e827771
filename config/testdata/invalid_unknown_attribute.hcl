session {
  idle_timout = "30m"
}
