"""Script jobs: a whole script rendered in the background, durable across restarts."""
