node {
  meta = { rack = null }
}
