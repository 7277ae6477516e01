from gourmetgram.cli import main

main()
