from vocalens.cli import main

raise SystemExit(main())
