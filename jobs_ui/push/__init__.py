"""Live push to websockets: which jobs this process's sockets watch, and the bridges that tell them a job changed."""
