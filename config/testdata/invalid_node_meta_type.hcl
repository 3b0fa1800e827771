node {
  meta = { rack = ["r1", "r2"] }
}
