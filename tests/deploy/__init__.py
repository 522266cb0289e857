"""Install and deployment files: the locks, the Makefile, the image, compose,
and migrations that are safe to start twice."""
