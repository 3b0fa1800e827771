node {
  name = "red/blue"
}
