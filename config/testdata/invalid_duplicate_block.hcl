node {
  name = "red"
}
node {
  name = "blue"
}
