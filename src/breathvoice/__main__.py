from breathvoice.cli import main

main()
