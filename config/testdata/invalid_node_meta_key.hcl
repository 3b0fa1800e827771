node {
  meta = { rack = "r1", "my rack" = "r2" }
}
