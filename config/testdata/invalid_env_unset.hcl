node {
  name = env("WADI_NODE")
}
