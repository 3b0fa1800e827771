node {
  name = "blue"
}
