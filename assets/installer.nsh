; Windows installer additions (electron-builder NSIS `include`).
;
; Offers the Windows Firewall rule that lets other nodes of the integration
; runtime and intranet clients reach this node's remote-access port (TCP 8060,
; the default of Settings > Remote access), as the reference product's MSI
; does. Interactive installs ask; silent installs (/S) add it; `NOFIREWALL=1`
; on the command line skips it, as in the reference product:
;   OpenIR-Setup.exe /S NOFIREWALL=1
; A node that uses another port needs its own rule.

!include "FileFunc.nsh"
!include "LogicLib.nsh"

!define OPENIR_FIREWALL_RULE "OpenIR remote access (TCP 8060)"

!macro customInstall
  ${GetParameters} $R0
  StrCpy $R2 "add"
  ClearErrors
  ${GetOptions} $R0 "NOFIREWALL=" $R1
  ${IfNot} ${Errors}
    ${If} $R1 == "1"
      StrCpy $R2 "skip"
    ${EndIf}
  ${EndIf}
  ${If} $R2 == "add"
    MessageBox MB_YESNO|MB_ICONQUESTION "Allow other OpenIR nodes and intranet clients to reach this node's remote-access port (TCP 8060) through Windows Firewall?$\r$\n$\r$\nHigh availability (several nodes in one integration runtime) needs it. You can remove the rule later in Windows Defender Firewall." /SD IDYES IDYES +2
    StrCpy $R2 "skip"
  ${EndIf}
  ${If} $R2 == "add"
    nsExec::ExecToLog 'netsh advfirewall firewall add rule name="${OPENIR_FIREWALL_RULE}" dir=in action=allow protocol=TCP localport=8060 program="$INSTDIR\${APP_EXECUTABLE_FILENAME}"'
    Pop $R3
    DetailPrint "Firewall rule for TCP 8060: netsh exit code $R3"
  ${Else}
    DetailPrint "No firewall rule added for TCP 8060 (NOFIREWALL=1 or declined)."
  ${EndIf}
!macroend

!macro customUnInstall
  nsExec::ExecToLog 'netsh advfirewall firewall delete rule name="${OPENIR_FIREWALL_RULE}"'
  Pop $R3
!macroend
