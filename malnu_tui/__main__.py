from malnu_tui.cli import main

raise SystemExit(main())
